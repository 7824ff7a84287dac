# discovery_snapshot: what discovery reads from a host in one round trip: the certificate stores (with DER), every site
# with its bindings plus the HTTP.sys ssl table, and the .pfx/.p12 files of a folder or share (with the folder's own
# credential). Each source is read on its own: one that fails comes back as an error (code, message, step) while the
# others still return their data; a store that does not exist (no WebHosting before IIS 8) is listed in `missing`.
param($Params)
$storeNames = @(Get-Param 'stores' @('My', 'WebHosting'))
$readSites = [bool](Get-Param 'sites' $true)
$fileSpec = Get-Param 'files'

function Get-SourceError($Caught) {
    # The same {code, message, step} the bootstrap writes for a whole operation, kept for this source only.
    $code = 'script_error'
    if ($Caught.Data -and $Caught.Data.Contains('OpCode')) { $code = [string]$Caught.Data['OpCode'] }
    $detail = @{ code = $code; message = $Caught.Message; step = $global:OpStep }
    @{ error = $detail }
}

function Read-Stores([string[]]$Names) {
    Set-OpStep 'read_stores'
    $result = New-Object System.Collections.ArrayList
    $missing = New-Object System.Collections.ArrayList
    foreach ($name in $Names) {
        try { $store = Open-CertStore $name $false }
        catch {
            if ($_.Exception.Data['OpCode'] -eq 'store_not_found') { [void]$missing.Add($name); continue }
            throw
        }
        try {
            foreach ($cert in @($store.Certificates | Sort-Object Thumbprint)) {
                $public = $cert.PublicKey.Key
                $algorithm = $cert.PublicKey.Oid.FriendlyName
                $size = 0
                if ($cert.PublicKey.Oid.Value -eq '1.2.840.113549.1.1.1') { $algorithm = 'RSA'; $size = $public.KeySize }
                elseif ($cert.PublicKey.Oid.Value -eq '1.2.840.10045.2.1') {
                    $algorithm = 'ECDSA'
                    $size = ([Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPublicKey($cert)).KeySize
                }
                [void]$result.Add([ordered]@{
                    store = $name; thumbprint = $cert.Thumbprint; subject = $cert.Subject; issuer = $cert.Issuer
                    serial_number = $cert.SerialNumber
                    not_before = Format-IsoDate $cert.NotBefore; not_after = Format-IsoDate $cert.NotAfter
                    friendly_name = $cert.FriendlyName; has_private_key = $cert.HasPrivateKey
                    key_provider = Get-KeyProvider $cert; key_algorithm = $algorithm; key_size = $size
                    dns_names = Get-SanDnsNames $cert
                    enhanced_key_usages = @($cert.EnhancedKeyUsageList | ForEach-Object { $_.ObjectId })
                    der_b64 = [Convert]::ToBase64String($cert.RawData)
                })
            }
        } finally { $store.Close() }
    }
    @{ certificates = @($result); missing = @($missing) }
}

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

function Read-Files($Spec) {
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
        Set-OpStep 'read_files'
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

$snapshot = [ordered]@{ stores = $null; sites = $null; files = $null }
if ($storeNames.Count -gt 0) {
    try { $snapshot.stores = Read-Stores $storeNames } catch { $snapshot.stores = Get-SourceError $_.Exception }
}
if ($readSites) {
    try { $snapshot.sites = Read-Sites } catch { $snapshot.sites = Get-SourceError $_.Exception }
}
if ($null -ne $fileSpec) {
    try { $snapshot.files = Read-Files $fileSpec } catch { $snapshot.files = Get-SourceError $_.Exception }
}
Set-OpStep 'done'
$snapshot
