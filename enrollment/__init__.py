"""CA accounts, CA clients and CSR generation."""
