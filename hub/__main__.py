"""`python -m hub ...`: the hub's command line."""
from .cli import main

main()
