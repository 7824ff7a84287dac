# host_facts: what the portal records at onboarding (OS build decides the PFX encryption and the sslFlags mask).
param($Params)
Set-OpStep 'read'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$build = [int][Environment]::OSVersion.Version.Build
$inetStp = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\InetStp' -ErrorAction SilentlyContinue
$mask = 3
if ($build -ge 17763) { $mask = $mask -bor 4 -bor 8 }
if ($build -ge 20348) { $mask = $mask -bor 16 -bor 32 -bor 64 }
$modules = @{}
foreach ($name in @('WebAdministration', 'IISAdministration')) {
    $module = Get-Module -ListAvailable -Name $name | Sort-Object Version -Descending | Select-Object -First 1
    $modules[$name] = $(if ($module) { $module.Version.ToString() } else { $null })
}
$ccs = Get-WindowsFeature -Name 'Web-CertProvider' -ErrorAction SilentlyContinue
$stores = @(foreach ($name in @('My', 'WebHosting', 'CA', 'Root')) { if (Test-Path "Cert:\LocalMachine\$name") { $name } })
$v4 = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue | Where-Object { $_.IPAddress -ne '127.0.0.1' } |
    ForEach-Object { $_.IPAddress })
$v6 = @(Get-NetIPAddress -AddressFamily IPv6 -ErrorAction SilentlyContinue |
    Where-Object { $_.IPAddress -ne '::1' -and $_.PrefixOrigin -ne 'WellKnown' } | ForEach-Object { $_.IPAddress })
$fqdn = $cs.DNSHostName
if ($cs.PartOfDomain) { $fqdn = '{0}.{1}' -f $cs.DNSHostName, $cs.Domain }
@{
    hostname = $env:COMPUTERNAME
    fqdn = $fqdn.ToLowerInvariant()
    domain = $(if ($cs.PartOfDomain) { $cs.Domain } else { '' })
    os = @{ caption = $os.Caption; version = $os.Version; build = $build }
    iis = @{
        version = $(if ($inetStp) { '{0}.{1}' -f $inetStp.MajorVersion, $inetStp.MinorVersion } else { $null })
        major = $(if ($inetStp) { [int]$inetStp.MajorVersion } else { $null })
        minor = $(if ($inetStp) { [int]$inetStp.MinorVersion } else { $null })
    }
    powershell = @{ version = $PSVersionTable.PSVersion.ToString(); edition = [string]$PSVersionTable.PSEdition }
    clr_version = $PSVersionTable.CLRVersion.ToString()
    modules = $modules
    ccs_installed = [bool]($ccs -and $ccs.Installed)
    stores = $stores
    ssl_flags_mask = $mask
    pfx_aes256_supported = ($build -ge 17763)
    addresses = $v4
    ipv6_addresses = $v6
    time_utc = Format-IsoDate (Get-Date)
}
