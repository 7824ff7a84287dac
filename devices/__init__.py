"""IIS servers, credentials, gateways, device validation and status log. `devices/iis/` talks WinRM."""
