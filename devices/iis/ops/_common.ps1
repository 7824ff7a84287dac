# Helpers shared by every operation script; devices/iis/operations.py puts this file in front of each op.
# The bootstrap (devices/iis/bootstrap.ps1) provides $Params, Set-OpStep and New-OpError.
# Nothing here or in any op reads a value from anywhere but $Params: parameters are never part of script text.

$Invariant = [Globalization.CultureInfo]::InvariantCulture

function Format-IsoDate([datetime]$Value) {
    # Windows PowerShell 5.1 serialises DateTime as "\/Date(ms)\/"; the portal wants ISO-8601 UTC strings.
    $Value.ToUniversalTime().ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", $Invariant)
}

function ConvertTo-Hex([byte[]]$Bytes) {
    if ($null -eq $Bytes -or $Bytes.Length -eq 0) { return $null }
    ([BitConverter]::ToString($Bytes)).Replace('-', '')
}

function ConvertFrom-Hex([string]$Hex) {
    $clean = ($Hex -replace '[^0-9A-Fa-f]', '')
    $bytes = New-Object byte[] ($clean.Length / 2)
    for ($i = 0; $i -lt $bytes.Length; $i++) { $bytes[$i] = [Convert]::ToByte($clean.Substring(2 * $i, 2), 16) }
    , $bytes
}

function Get-Param([string]$Name, $Default = $null) {
    if ($null -ne $Params -and $Params.PSObject.Properties.Name -contains $Name -and $null -ne $Params.$Name) {
        return $Params.$Name
    }
    $Default
}

function Get-RequiredParam([string]$Name) {
    $value = Get-Param $Name
    if ($null -eq $value -or ($value -is [string] -and $value -eq '')) {
        throw (New-OpError 'bad_params' "parameter '$Name' is required")
    }
    $value
}

function Import-ServerManager {
    Add-Type -Path "$env:windir\System32\inetsrv\Microsoft.Web.Administration.dll"
    New-Object Microsoft.Web.Administration.ServerManager
}

function Split-BindingInformation([string]$Info) {
    # "[2001:db8::1]:443:host", "*:443:", ":443:" (normalised to "*"), "10.0.0.5:443:www.x.com".
    # A naive -split ':' breaks IPv6 (iis-peers.md §6 item 6), hence the regex.
    $m = [regex]::Match($Info, '^(?:\[(?<v6>[0-9A-Fa-f:.%]+)\]|(?<v4>[^:\[\]]*)):(?<port>\d+):(?<host>.*)$')
    if (-not $m.Success) { return $null }
    if ($m.Groups['v6'].Success) { $ip = $m.Groups['v6'].Value; $version = 6 }
    else {
        $ip = $m.Groups['v4'].Value
        if ($ip -eq '' -or $ip -eq '*') { $ip = '*'; $version = $null } else { $version = 4 }
    }
    [pscustomobject]@{ ip = $ip; port = [int]$m.Groups['port'].Value; host = $m.Groups['host'].Value; ip_version = $version }
}

function Get-HttpSysEndpoint($Parsed, [int]$SslFlags) {
    if ($SslFlags -band 2) { return @{ kind = 'ccs'; endpoint = [string]$Parsed.port } }
    if ($SslFlags -band 1) { return @{ kind = 'hostnameport'; endpoint = ('{0}:{1}' -f $Parsed.host.ToLowerInvariant(), $Parsed.port) } }
    if ($Parsed.ip -eq '*') { return @{ kind = 'ipport'; endpoint = ('0.0.0.0:{0}' -f $Parsed.port) } }
    if ($Parsed.ip_version -eq 6) { return @{ kind = 'ipport'; endpoint = ('[{0}]:{1}' -f $Parsed.ip, $Parsed.port) } }
    @{ kind = 'ipport'; endpoint = ('{0}:{1}' -f $Parsed.ip, $Parsed.port) }
}

function Get-HttpSysTable {
    # netsh's field labels are English on the servers we manage; entries come back as an array of hashtables.
    $entries = New-Object System.Collections.ArrayList
    $current = $null
    foreach ($line in @(& netsh.exe http show sslcert)) {
        if ($line -match '^\s*(IP:port|Hostname:port|Central Certificate Store)\s*:\s*(.+?)\s*$') {
            $kind = switch ($Matches[1]) { 'IP:port' { 'ipport' } 'Hostname:port' { 'hostnameport' } default { 'ccs' } }
            $current = @{ kind = $kind; endpoint = $Matches[2]; certificate_hash = $null; certificate_store = $null; app_id = '' }
            [void]$entries.Add($current)
        } elseif ($null -ne $current -and $line -match '^\s*Certificate Hash\s*:\s*([0-9A-Fa-f]+)\s*$') {
            $current.certificate_hash = $Matches[1].ToUpperInvariant()
        } elseif ($null -ne $current -and $line -match '^\s*Certificate Store Name\s*:\s*(\S+)\s*$') {
            $current.certificate_store = $(if ($Matches[1] -eq '(null)') { 'My' } else { $Matches[1] })
        } elseif ($null -ne $current -and $line -match '^\s*Application ID\s*:\s*(\S+)\s*$') {
            $current.app_id = $Matches[1]
        }
    }
    , @($entries)
}

function Set-HttpSysEntry($Entry) {
    $selector = switch ($Entry.kind) { 'ipport' { 'ipport' } 'hostnameport' { 'hostnameport' } default { 'ccs' } }
    & netsh.exe http delete sslcert "$selector=$($Entry.endpoint)" | Out-Null
    $arguments = @('http', 'add', 'sslcert', "$selector=$($Entry.endpoint)", "appid=$($Entry.app_id)")
    if ($Entry.certificate_hash) {
        $arguments += @("certhash=$($Entry.certificate_hash)", "certstorename=$($Entry.certificate_store)")
    }
    $output = & netsh.exe @arguments
    if ($LASTEXITCODE -ne 0) { throw (New-OpError 'http_sys_failed' ("netsh: " + ($output -join ' '))) }
}

function Remove-HttpSysEntry([string]$Kind, [string]$Endpoint) {
    & netsh.exe http delete sslcert "$Kind=$Endpoint" | Out-Null
}

function Get-SanDnsNames($Certificate) {
    # SAN by OID 2.5.29.17, decoded from DER: the Format() text and the OID friendly name are localised.
    $names = New-Object System.Collections.ArrayList
    $ext = $Certificate.Extensions | Where-Object { $_.Oid.Value -eq '2.5.29.17' } | Select-Object -First 1
    if ($null -eq $ext) { return , @() }
    $raw = $ext.RawData
    $pos = 2
    if ($raw[1] -band 0x80) { $pos = 2 + ($raw[1] -band 0x7F) }
    while ($pos -lt $raw.Length) {
        $tag = $raw[$pos]; $len = [int]$raw[$pos + 1]; $pos += 2
        if ($len -band 0x80) {
            $count = $len -band 0x7F; $len = 0
            for ($i = 0; $i -lt $count; $i++) { $len = ($len * 256) + $raw[$pos + $i] }
            $pos += $count
        }
        if ($tag -eq 0x82) { [void]$names.Add([Text.Encoding]::ASCII.GetString($raw, $pos, $len)) }
        $pos += $len
    }
    , @($names)
}

function Get-KeyProvider($Certificate) {
    if (-not $Certificate.HasPrivateKey) { return $null }
    try { return $Certificate.PrivateKey.CspKeyContainerInfo.ProviderName } catch { }
    try {
        $rsa = [Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
        if ($rsa -is [Security.Cryptography.RSACng]) { return $rsa.Key.Provider.Provider }
    } catch { }
    try {
        $ecdsa = [Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($Certificate)
        if ($ecdsa -is [Security.Cryptography.ECDsaCng]) { return $ecdsa.Key.Provider.Provider }
    } catch { }
    $null
}

function Open-CertStore([string]$Name, [bool]$Write) {
    $flags = [Security.Cryptography.X509Certificates.OpenFlags]::OpenExistingOnly
    if ($Write) { $flags = $flags -bor [Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite }
    else { $flags = $flags -bor [Security.Cryptography.X509Certificates.OpenFlags]::ReadOnly }
    $store = New-Object Security.Cryptography.X509Certificates.X509Store($Name, 'LocalMachine')
    try { $store.Open($flags) } catch { throw (New-OpError 'store_not_found' "Cannot open Cert:\LocalMachine\$Name") }
    $store
}

function Connect-Folder([string]$Path, $Credential) {
    # A UNC path is mounted with its own credential (New-PSDrive), never with the WinRM logon's.
    if (-not $Path.StartsWith('\\')) { return $null }
    $parts = $Path.TrimStart('\').Split('\')
    $root = '\\' + $parts[0] + '\' + $parts[1]
    if ($null -eq $Credential -or -not $Credential.username) {
        throw (New-OpError 'access_denied' "Access is denied: $root needs a credential")
    }
    $secure = ConvertTo-SecureString -String ([string]$Credential.password) -AsPlainText -Force
    $psCredential = New-Object System.Management.Automation.PSCredential([string]$Credential.username, $secure)
    $name = 'tp' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    try {
        New-PSDrive -Name $name -PSProvider FileSystem -Root $root -Credential $psCredential -Scope Script | Out-Null
    } catch {
        throw (New-OpError 'access_denied' $_.Exception.Message)
    }
    $name
}

function Disconnect-Folder($DriveName) {
    if ($DriveName) { Remove-PSDrive -Name $DriveName -Scope Script -ErrorAction SilentlyContinue }
}

# One certificate of a LocalMachine store as the portal reads it (list_store_certificates, discovery_snapshot).
function ConvertTo-StoreCertificateView($Cert, [string]$StoreName, [bool]$IncludeDer) {
    $algorithm = $Cert.PublicKey.Oid.FriendlyName
    $size = 0
    if ($Cert.PublicKey.Oid.Value -eq '1.2.840.113549.1.1.1') { $algorithm = 'RSA'; $size = $Cert.PublicKey.Key.KeySize }
    elseif ($Cert.PublicKey.Oid.Value -eq '1.2.840.10045.2.1') {
        $algorithm = 'ECDSA'
        $size = ([Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPublicKey($Cert)).KeySize
    }
    $entry = [ordered]@{
        store = $StoreName; thumbprint = $Cert.Thumbprint; subject = $Cert.Subject; issuer = $Cert.Issuer
        serial_number = $Cert.SerialNumber
        not_before = Format-IsoDate $Cert.NotBefore; not_after = Format-IsoDate $Cert.NotAfter
        friendly_name = $Cert.FriendlyName; has_private_key = $Cert.HasPrivateKey
        key_provider = Get-KeyProvider $Cert; key_algorithm = $algorithm; key_size = $size
        dns_names = Get-SanDnsNames $Cert
        enhanced_key_usages = @($Cert.EnhancedKeyUsageList | ForEach-Object { $_.ObjectId })
    }
    if ($IncludeDer) { $entry.der_b64 = [Convert]::ToBase64String($Cert.RawData) }
    $entry
}

# -- what discovery and validation read (list_sites, list_files and discovery_snapshot share these) -------------------

# Every site (started or not) with every binding, FTP SSL settings, and the HTTP.sys ssl table.
function Read-Sites {
    Set-OpStep 'read_sites'
    $sm = Import-ServerManager
    $sites = New-Object System.Collections.ArrayList
    foreach ($site in $sm.Sites) {
        $state = 'Unknown'
        try { $state = [string]$site.State } catch { }  # a broken app pool makes State throw (win-acme)
        $bindings = New-Object System.Collections.ArrayList
        foreach ($b in $site.Bindings) {
            $flags = 0
            if ($b.Protocol -eq 'https') { try { $flags = [int]$b.GetAttributeValue('sslFlags') } catch { $flags = 0 } }
            $view = [ordered]@{
                protocol = $b.Protocol; binding_information = $b.BindingInformation
                ip = $null; port = $null; host = $null; ip_version = $null
                ssl_flags = $flags; sni = [bool]($flags -band 1); ccs = [bool]($flags -band 2)
                certificate_hash = ConvertTo-Hex $b.CertificateHash
                certificate_store = $(if ($b.CertificateHash) { $b.CertificateStoreName } else { $null })
                http_sys = $null
            }
            if (@('http', 'https', 'ftp') -contains $b.Protocol) {
                $parsed = Split-BindingInformation $b.BindingInformation
                if ($parsed) {
                    $view.ip = $parsed.ip; $view.port = $parsed.port; $view.host = $parsed.host; $view.ip_version = $parsed.ip_version
                    if ($b.Protocol -eq 'https') { $view.http_sys = Get-HttpSysEndpoint $parsed $flags }
                }
            } elseif ($b.Protocol -eq 'net.tcp') {
                $port, $hostPart = $b.BindingInformation.Split(':', 2)
                $view.port = [int]$port; $view.host = $hostPart
            }
            [void]$bindings.Add($view)
        }
        $ftp = $null
        if (@($site.Bindings | Where-Object { $_.Protocol -eq 'ftp' }).Count -gt 0) {
            $ssl = $site.GetChildElement('ftpServer').GetChildElement('security').GetChildElement('ssl')
            $ftp = @{
                certificate_hash = $(if ($ssl['serverCertHash']) { ([string]$ssl['serverCertHash']).ToUpperInvariant() } else { $null })
                certificate_store = [string]$ssl['serverCertStoreName']
                control_channel_policy = [string]$ssl['controlChannelPolicy']
                data_channel_policy = [string]$ssl['dataChannelPolicy']
            }
        }
        [void]$sites.Add([ordered]@{
            id = [int]$site.Id; name = $site.Name; state = $state
            physical_path = [Environment]::ExpandEnvironmentVariables($site.Applications['/'].VirtualDirectories['/'].PhysicalPath)
            app_pool = $site.Applications['/'].ApplicationPoolName
            start_error = $null
            bindings = @($bindings); ftp_ssl = $ftp
        })
    }
    Set-OpStep 'read_http_sys'
    $httpSys = Get-HttpSysTable
    @{ sites = @($sites | Sort-Object { $_.id }); http_sys = @($httpSys) }
}

# The files matching $Spec.patterns under the folder or UNC share $Spec.path (connected with $Spec.credential), bytes
# and SHA-256 included; a file over $Spec.max_file_bytes is listed as skipped.
function Read-Files($Spec, [string]$ReadStep = 'read_files') {
    Set-OpStep 'connect'
    $path = [string]$Spec.path
    if (-not $path) { throw (New-OpError 'bad_params' "parameter 'files.path' is required") }
    $patterns = @('*.pfx', '*.p12')
    if ($null -ne $Spec.patterns) { $patterns = @($Spec.patterns) }
    $recurse = $true
    if ($null -ne $Spec.recurse) { $recurse = [bool]$Spec.recurse }
    $maxBytes = [long]4194304
    if ($null -ne $Spec.max_file_bytes) { $maxBytes = [long]$Spec.max_file_bytes }
    $drive = Connect-Folder $path $Spec.credential
    try {
        Set-OpStep 'list'
        if (-not (Test-Path -LiteralPath $path -PathType Container)) {
            throw (New-OpError 'path_not_found' "Cannot find path '$path' because it does not exist.")
        }
        $items = @(Get-ChildItem -LiteralPath $path -File -Recurse:$recurse -ErrorAction Stop |
            Where-Object { $name = $_.Name; @($patterns | Where-Object { $name -like $_ }).Count -gt 0 } |
            Sort-Object FullName)
        Set-OpStep $ReadStep
        $files = New-Object System.Collections.ArrayList
        $sha = [Security.Cryptography.SHA256]::Create()
        foreach ($item in $items) {
            $tooLarge = $item.Length -gt $maxBytes
            $bytes = $null
            $digest = $null
            if (-not $tooLarge) {
                $bytes = [IO.File]::ReadAllBytes($item.FullName)
                $digest = ([BitConverter]::ToString($sha.ComputeHash($bytes))).Replace('-', '').ToLowerInvariant()
            }
            [void]$files.Add([ordered]@{
                path = $item.FullName; name = $item.Name; size = $item.Length
                modified = Format-IsoDate $item.LastWriteTimeUtc
                sha256 = $digest
                content_b64 = $(if ($bytes) { [Convert]::ToBase64String($bytes) } else { $null })
                skipped = $(if ($tooLarge) { 'too_large' } else { $null })
            })
        }
        @{ path = $path; files = @($files) }
    } finally { Disconnect-Folder $drive }
}
