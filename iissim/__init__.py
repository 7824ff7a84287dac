"""The IIS host simulator: a real WinRM endpoint, a simulated Windows/IIS host, real TLS listeners.

No Django import anywhere in this package: it runs on its own (`python -m iissim --lab FILE`).
"""
