"""Write-back: tell each pushed sheet row how its import went, in Google Sheets or a local workbook."""
