"""Attribution: orders and leads from shops, tied to the IO whose promo code or vanity URL they used."""
