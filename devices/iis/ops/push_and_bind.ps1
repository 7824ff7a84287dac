# push_and_bind: import a PFX into LocalMachine\My or WebHosting, then change the requested bindings in ONE
# ServerManager commit (replace, never mutate: win-acme #371), keeping HTTP.sys entries that other bindings share
# (removeConfigOnly) and every sslFlags bit the portal does not own. Returns a snapshot for `restore`.
# A failure before the commit changes no binding; a certificate this run added is removed again.
param($Params)
Set-OpStep 'validate'
$pfx = [Convert]::FromBase64String([string](Get-RequiredParam 'pfx_b64'))
$password = [string](Get-Param 'pfx_password' '')
$storeName = [string](Get-Param 'store' 'My')
if (@('My', 'WebHosting') -notcontains $storeName) { throw (New-OpError 'bad_params' 'store must be one of My, WebHosting') }
$friendly = [string](Get-Param 'friendly_name' '')
$expected = (([string](Get-Param 'expected_thumbprint' '')) -replace '[^0-9A-Fa-f]', '').ToUpperInvariant()
$targets = @(Get-Param 'bindings' @())
# The issuer chain to install (public certificates only, base64 DER), sent only when the connector says
# "push root and intermediate certificates". Intermediates go to LocalMachine\CA, a self-signed root to
# LocalMachine\Root; certificates the PFX itself carries are never installed on their own.
$chain = New-Object System.Collections.ArrayList
foreach ($item in @(Get-Param 'chain_b64' @())) {
    try { $c = New-Object Security.Cryptography.X509Certificates.X509Certificate2 (, [Convert]::FromBase64String([string]$item)) }
    catch { throw (New-OpError 'bad_params' "parameter 'chain_b64' holds something that is not a DER certificate") }
    [void]$chain.Add($c)
}
$build = [int][Environment]::OSVersion.Version.Build
$mask = 3
if ($build -ge 17763) { $mask = $mask -bor 12 }
if ($build -ge 20348) { $mask = $mask -bor 112 }

$sm = Import-ServerManager
$plans = New-Object System.Collections.ArrayList
$claimed = @{}
foreach ($t in $targets) {
    $site = $sm.Sites[[string]$t.site]
    if ($null -eq $site) { throw (New-OpError 'site_not_found' "Site '$($t.site)' does not exist") }
    if ($t.action -eq 'ftp') {
        if (@($site.Bindings | Where-Object { $_.Protocol -eq 'ftp' }).Count -eq 0) {
            throw (New-OpError 'not_ftp_site' "Site '$($site.Name)' has no ftp binding")
        }
        [void]$plans.Add(@{ action = 'ftp'; site = $site; old = $null }); continue
    }
    if (@('update_certificate', 'update_binding', 'create_binding') -notcontains $t.action) {
        throw (New-OpError 'bad_params' "unknown binding action '$($t.action)'")
    }
    $parsed = Split-BindingInformation ([string]$t.binding_information)
    if ($null -eq $parsed) { throw (New-OpError 'invalid_binding' "'$($t.binding_information)': Invalid IP address. (Exception from HRESULT: 0x80072550)") }
    $old = $null
    $newInfo = $parsed
    if ($t.action -eq 'create_binding') { $flags = [int]$t.ssl_flags_set }
    else {
        $old = $site.Bindings | Where-Object {
            $_.Protocol -eq 'https' -and ($p = Split-BindingInformation $_.BindingInformation) -and
            $p.ip -eq $parsed.ip -and $p.port -eq $parsed.port -and $p.host -eq $parsed.host
        } | Select-Object -First 1
        if ($null -eq $old) { throw (New-OpError 'binding_not_found' "Site '$($site.Name)' has no https binding '$($t.binding_information)'") }
        $oldFlags = [int]$old.GetAttributeValue('sslFlags')
        if ($t.action -eq 'update_certificate') { $flags = $oldFlags }
        else {
            # Only the bits the portal owns change; HTTP/2, OCSP, QUIC, TLS bits set by an administrator stay.
            $flags = ($oldFlags -band (-bnot [int]$t.ssl_flags_clear)) -bor [int]$t.ssl_flags_set
            if ($t.new_binding_information) { $newInfo = Split-BindingInformation ([string]$t.new_binding_information) }
        }
    }
    if ($flags -band (-bnot $mask)) { throw (New-OpError 'invalid_ssl_flags' "sslFlags $flags is not valid on build $build (valid mask $mask): Invalid index. (Exception from HRESULT: 0x80070585)") }
    if (($flags -band 1) -and -not $newInfo.host) { throw (New-OpError 'sni_requires_host' 'The SNI flag needs a host name: The parameter is incorrect. (Exception from HRESULT: 0x80070057)') }
    if (($flags -band 2) -and -not $newInfo.host) { throw (New-OpError 'ccs_requires_host' 'The Central Certificate Store flag needs a host name: The parameter is incorrect. (Exception from HRESULT: 0x80070057)') }
    $ipText = $(if ($newInfo.ip_version -eq 6) { "[$($newInfo.ip)]" } else { $newInfo.ip })
    $infoText = '{0}:{1}:{2}' -f $ipText, $newInfo.port, $newInfo.host
    $key = ('{0}|{1}|{2}' -f $newInfo.ip, $newInfo.port, $newInfo.host).ToLowerInvariant()
    if ($claimed.ContainsKey($key)) { throw (New-OpError 'binding_conflict' "Binding '$infoText' is requested twice") }
    $claimed[$key] = $true
    foreach ($other in $sm.Sites) {
        foreach ($b in $other.Bindings) {
            if ($b -eq $old -or @('http', 'https') -notcontains $b.Protocol) { continue }
            $p = Split-BindingInformation $b.BindingInformation
            if ($p -and $p.ip -eq $newInfo.ip -and $p.port -eq $newInfo.port -and $p.host -eq $newInfo.host) {
                throw (New-OpError 'binding_conflict' "Binding '$infoText' already exists on site '$($other.Name)'")
            }
        }
    }
    [void]$plans.Add(@{ action = [string]$t.action; site = $site; old = $old; info = $infoText; parsed = $newInfo; flags = $flags })
}

Set-OpStep 'snapshot'
$httpSysBefore = Get-HttpSysTable
$snapBindings = New-Object System.Collections.ArrayList
$snapFtp = New-Object System.Collections.ArrayList
$endpoints = @{}
foreach ($plan in $plans) {
    if ($plan.action -eq 'ftp') {
        $ssl = $plan.site.GetChildElement('ftpServer').GetChildElement('security').GetChildElement('ssl')
        [void]$snapFtp.Add(@{ site = $plan.site.Name; before = @{
            certificate_hash = $(if ($ssl['serverCertHash']) { ([string]$ssl['serverCertHash']).ToUpperInvariant() } else { $null })
            certificate_store = [string]$ssl['serverCertStoreName']
            control_channel_policy = [string]$ssl['controlChannelPolicy']; data_channel_policy = [string]$ssl['dataChannelPolicy'] } })
        continue
    }
    $before = $null
    if ($plan.old) {
        $oldFlags = [int]$plan.old.GetAttributeValue('sslFlags')
        $attributes = @{}
        foreach ($a in $plan.old.Attributes) {
            if (@('protocol', 'bindingInformation', 'sslFlags', 'certificateHash', 'certificateStoreName') -notcontains $a.Name -and -not $a.IsInheritedFromDefaultValue) {
                $attributes[$a.Name] = [string]$a.Value
            }
        }
        $before = @{ protocol = 'https'; binding_information = $plan.old.BindingInformation; ssl_flags = $oldFlags
            certificate_hash = ConvertTo-Hex $plan.old.CertificateHash; certificate_store = $plan.old.CertificateStoreName
            attributes = $attributes }
        $e = Get-HttpSysEndpoint (Split-BindingInformation $plan.old.BindingInformation) $oldFlags
        $endpoints["$($e.kind)|$($e.endpoint.ToLowerInvariant())"] = $e
    }
    $e = Get-HttpSysEndpoint $plan.parsed $plan.flags
    $endpoints["$($e.kind)|$($e.endpoint.ToLowerInvariant())"] = $e
    [void]$snapBindings.Add(@{ site = $plan.site.Name; action = $plan.action; before = $before
        after = @{ protocol = 'https'; binding_information = $plan.info } })
}
$snapHttpSys = New-Object System.Collections.ArrayList
foreach ($k in @($endpoints.Keys | Sort-Object)) {
    $e = $endpoints[$k]
    $found = $httpSysBefore | Where-Object { $_.kind -eq $e.kind -and $_.endpoint -eq $e.endpoint } | Select-Object -First 1
    [void]$snapHttpSys.Add(@{ kind = $e.kind; endpoint = $e.endpoint.ToLowerInvariant(); before = $found })
}

Set-OpStep 'import'
$storageFlags = [Security.Cryptography.X509Certificates.X509KeyStorageFlags]::MachineKeySet -bor
    [Security.Cryptography.X509Certificates.X509KeyStorageFlags]::PersistKeySet
$collection = New-Object Security.Cryptography.X509Certificates.X509Certificate2Collection
try { $collection.Import($pfx, $password, $storageFlags) }
catch {
    $hint = ''
    if ($build -lt 17763) { $hint = " (Windows build $build cannot read AES-256/PBES2 PFX files; export it with TripleDES-SHA1. A wrong password gives the same error.)" }
    throw (New-OpError 'pfx_import_failed' ("PFX import failed: " + $_.Exception.InnerException.Message + $hint))
}
$leaf = $collection | Where-Object { $_.HasPrivateKey } | Select-Object -First 1
if ($null -eq $leaf) { $leaf = $collection[0] }
$thumb = $leaf.Thumbprint
$store = Open-CertStore $storeName $true
$added = New-Object System.Collections.ArrayList
try {
    $wasPresent = @($store.Certificates.Find('FindByThumbprint', $thumb, $false)).Count -gt 0
    if ($friendly) { $leaf.FriendlyName = $friendly }
    if (-not $wasPresent) { $store.Add($leaf); [void]$added.Add(@($storeName, $thumb)) }
} finally { $store.Close() }
# Chain certificates: one already in its store (any source, by thumbprint) is left alone and not recorded, so a
# restore removes exactly what this push added. LocalMachine\Root takes an Add from an elevated session without
# the confirmation dialog that CurrentUser\Root shows.
$chainAdded = New-Object System.Collections.ArrayList
try {
    foreach ($c in $chain) {
        if ($c.Thumbprint -eq $thumb) { continue }
        # Self-signed (issuer name = subject name, compared as encoded bytes) -> Root; anything else -> CA.
        $selfSigned = [Convert]::ToBase64String($c.SubjectName.RawData) -eq [Convert]::ToBase64String($c.IssuerName.RawData)
        $target = $(if ($selfSigned) { 'Root' } else { 'CA' })
        $s = Open-CertStore $target $true
        try {
            if (@($s.Certificates.Find('FindByThumbprint', $c.Thumbprint, $false)).Count -eq 0) {
                $s.Add($c)
                [void]$added.Add(@($target, $c.Thumbprint))
                [void]$chainAdded.Add([ordered]@{ store = $target; thumbprint = $c.Thumbprint; subject = $c.Subject })
            }
        } finally { $s.Close() }
    }

    Set-OpStep 'verify'
    # Re-read from the store: the thumbprint and the key that IIS will actually use (Keyfactor 2.6.3, Puppet #116).
    $check = Open-CertStore $storeName $false
    try { $stored = @($check.Certificates.Find('FindByThumbprint', $thumb, $false)) | Select-Object -First 1 }
    finally { $check.Close() }
    if ($null -eq $stored) { throw (New-OpError 'import_not_found' "Certificate $thumb is not in LocalMachine\$storeName after import") }
    if (-not $stored.HasPrivateKey) { throw (New-OpError 'no_private_key' "Certificate $thumb in LocalMachine\$storeName has no private key; IIS could not use it") }
    if ($expected -and $expected -ne $thumb) { throw (New-OpError 'thumbprint_mismatch' "Imported certificate is $thumb, expected $expected") }

    Set-OpStep 'bind'
    $hashBytes = ConvertFrom-Hex $thumb
    $results = New-Object System.Collections.ArrayList
    $orphans = New-Object System.Collections.ArrayList
    foreach ($plan in $plans) {
        if ($plan.action -eq 'ftp') {
            $ssl = $plan.site.GetChildElement('ftpServer').GetChildElement('security').GetChildElement('ssl')
            $ssl['serverCertHash'] = $thumb
            $ssl['serverCertStoreName'] = $storeName
            [void]$results.Add(@{ site = $plan.site.Name; action = 'ftp'; ftp_ssl = @{ certificate_hash = $thumb; certificate_store = $storeName
                control_channel_policy = [string]$ssl['controlChannelPolicy']; data_channel_policy = [string]$ssl['dataChannelPolicy'] } })
            continue
        }
        $new = $plan.site.Bindings.CreateElement('binding')
        if ($plan.old) {
            foreach ($a in $plan.old.Attributes) {
                if (@('protocol', 'bindingInformation', 'sslFlags', 'certificateHash', 'certificateStoreName') -notcontains $a.Name -and -not $a.IsInheritedFromDefaultValue) {
                    $new.SetAttributeValue($a.Name, $a.Value)
                }
            }
        }
        $new.SetAttributeValue('protocol', 'https')
        $new.SetAttributeValue('bindingInformation', $plan.info)
        $new.SetAttributeValue('sslFlags', $plan.flags)
        if (-not ($plan.flags -band 2)) { $new.CertificateHash = $hashBytes; $new.CertificateStoreName = $storeName }
        if ($plan.old) {
            $oldEndpoint = Get-HttpSysEndpoint (Split-BindingInformation $plan.old.BindingInformation) ([int]$plan.old.GetAttributeValue('sslFlags'))
            $plan.site.Bindings.Remove($plan.old, $true)   # removeConfigOnly: shared HTTP.sys entries survive
            $newEndpoint = Get-HttpSysEndpoint $plan.parsed $plan.flags
            if ($oldEndpoint.kind -ne $newEndpoint.kind -or $oldEndpoint.endpoint -ne $newEndpoint.endpoint) { [void]$orphans.Add($oldEndpoint) }
        }
        $plan.site.Bindings.Add($new) | Out-Null
        $view = Split-BindingInformation $plan.info
        [void]$results.Add(@{ site = $plan.site.Name; action = $plan.action; shared_with = @()
            binding = [ordered]@{ protocol = 'https'; binding_information = $plan.info; ip = $view.ip; port = $view.port; host = $view.host
                ip_version = $view.ip_version; ssl_flags = $plan.flags; sni = [bool]($plan.flags -band 1); ccs = [bool]($plan.flags -band 2)
                certificate_hash = $(if ($plan.flags -band 2) { $null } else { $thumb }); certificate_store = $(if ($plan.flags -band 2) { $null } else { $storeName })
                http_sys = Get-HttpSysEndpoint $view $plan.flags } })
    }

    Set-OpStep 'commit'
    $sm.CommitChanges()
} catch {
    # Nothing was committed; take back what this run added to the stores.
    foreach ($pair in $added) {
        $s = Open-CertStore $pair[0] $true
        try { foreach ($c in @($s.Certificates.Find('FindByThumbprint', $pair[1], $false))) { $s.Remove($c) } } finally { $s.Close() }
    }
    throw
}

# An old endpoint that no binding uses any more is removed; one still shared stays (KB 2405568).
$sm2 = Import-ServerManager
foreach ($o in $orphans) {
    $inUse = $false
    foreach ($s in $sm2.Sites) { foreach ($b in $s.Bindings) {
        if ($b.Protocol -ne 'https') { continue }
        $e = Get-HttpSysEndpoint (Split-BindingInformation $b.BindingInformation) ([int]$b.GetAttributeValue('sslFlags'))
        if ($e.kind -eq $o.kind -and $e.endpoint -eq $o.endpoint) { $inUse = $true }
    } }
    if (-not $inUse) { Remove-HttpSysEntry $o.kind $o.endpoint }
}
$stopped = New-Object System.Collections.ArrayList
foreach ($plan in $plans) {
    $s = $sm2.Sites[$plan.site.Name]
    if ($s -and [string]$s.State -eq 'Stopped' -and [string]$plan.site.State -eq 'Started') { [void]$stopped.Add(@{ site = $s.Name; reason = 'the site stopped after the change' }) }
}
foreach ($r in $results) {
    if (-not $r.binding) { continue }
    $shared = New-Object System.Collections.ArrayList
    foreach ($s in $sm2.Sites) { foreach ($b in $s.Bindings) {
        if ($b.Protocol -ne 'https' -or ($s.Name -eq $r.site -and $b.BindingInformation -eq $r.binding.binding_information)) { continue }
        $e = Get-HttpSysEndpoint (Split-BindingInformation $b.BindingInformation) ([int]$b.GetAttributeValue('sslFlags'))
        if ($e.kind -eq $r.binding.http_sys.kind -and $e.endpoint -eq $r.binding.http_sys.endpoint) {
            [void]$shared.Add(@{ site = $s.Name; binding_information = $b.BindingInformation })
        }
    } }
    $r.shared_with = @($shared)
}
$after = Get-HttpSysTable
$touched = @($after | Where-Object { $endpoints.ContainsKey("$($_.kind)|$($_.endpoint.ToLowerInvariant())") })
@{
    thumbprint = $thumb; store = $storeName; imported = (-not $wasPresent); has_private_key = $true
    friendly_name = $stored.FriendlyName; key_provider = Get-KeyProvider $stored
    chain_added = @($chainAdded)
    bindings = @($results); http_sys = @($touched); sites_stopped = @($stopped)
    snapshot = @{ version = 1; host = $env:COMPUTERNAME; taken_at = Format-IsoDate (Get-Date)
        bindings = @($snapBindings); ftp = @($snapFtp); http_sys = @($snapHttpSys)
        certificate = @{ store = $storeName; thumbprint = $thumb; was_present = $wasPresent }
        chain_added = @($chainAdded | ForEach-Object { @{ store = $_.store; thumbprint = $_.thumbprint } }) }
}
