"""The inventory: certificates, private keys, locations, groups and policies."""
