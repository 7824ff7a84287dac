# restore: undo a push_and_bind from its snapshot, in one ServerManager commit, then put each HTTP.sys entry back
# exactly as it was (or remove it if it did not exist). Optionally removes the pushed certificate if nothing uses it,
# and the chain certificates (CA / Root) the push added.
param($Params)
Set-OpStep 'validate'
$snapshot = Get-RequiredParam 'snapshot'
if ($snapshot.version -ne 1) { throw (New-OpError 'bad_params' "parameter 'snapshot' must be a snapshot from push_and_bind") }
$removeCertificate = [bool](Get-Param 'remove_certificate' $false)
$removeChain = [bool](Get-Param 'remove_chain' $true)
$sm = Import-ServerManager
foreach ($item in @($snapshot.bindings)) {
    if ($null -eq $sm.Sites[[string]$item.site]) { throw (New-OpError 'site_not_found' "Site '$($item.site)' does not exist") }
}

Set-OpStep 'bind'
$restored = 0
foreach ($item in @($snapshot.bindings)) {
    $site = $sm.Sites[[string]$item.site]
    if ($item.after) {
        $target = Split-BindingInformation ([string]$item.after.binding_information)
        $current = $site.Bindings | Where-Object {
            $_.Protocol -eq [string]$item.after.protocol -and ($p = Split-BindingInformation $_.BindingInformation) -and
            $p.ip -eq $target.ip -and $p.port -eq $target.port -and $p.host -eq $target.host
        } | Select-Object -First 1
        if ($current) { $site.Bindings.Remove($current, $true) }
    }
    if ($item.before) {
        $b = $site.Bindings.CreateElement('binding')
        foreach ($name in @($item.before.attributes.PSObject.Properties.Name)) { $b.SetAttributeValue($name, $item.before.attributes.$name) }
        $b.SetAttributeValue('protocol', [string]$item.before.protocol)
        $b.SetAttributeValue('bindingInformation', [string]$item.before.binding_information)
        $b.SetAttributeValue('sslFlags', [int]$item.before.ssl_flags)
        if ($item.before.certificate_hash) {
            $b.CertificateHash = ConvertFrom-Hex ([string]$item.before.certificate_hash)
            $b.CertificateStoreName = [string]$item.before.certificate_store
        }
        $site.Bindings.Add($b) | Out-Null
    }
    $restored++
}
foreach ($item in @($snapshot.ftp)) {
    $site = $sm.Sites[[string]$item.site]
    if ($null -eq $site) { continue }
    $ssl = $site.GetChildElement('ftpServer').GetChildElement('security').GetChildElement('ssl')
    $ssl['serverCertHash'] = $(if ($item.before) { [string]$item.before.certificate_hash } else { '' })
    $ssl['serverCertStoreName'] = $(if ($item.before) { [string]$item.before.certificate_store } else { 'My' })
    $restored++
}
Set-OpStep 'http_sys'
Set-OpStep 'commit'
$sm.CommitChanges()
# IIS rewrote HTTP.sys for the bindings it re-added; now every snapshot entry gets its exact old value back.
foreach ($item in @($snapshot.http_sys)) {
    if ($item.before) { Set-HttpSysEntry $item.before } else { Remove-HttpSysEntry ([string]$item.kind) ([string]$item.endpoint) }
}
$removed = $false
if ($removeCertificate -and $snapshot.certificate.thumbprint -and -not $snapshot.certificate.was_present) {
    Set-OpStep 'cleanup'
    $thumb = [string]$snapshot.certificate.thumbprint
    $used = $false
    foreach ($s in (Import-ServerManager).Sites) { foreach ($b in $s.Bindings) { if ((ConvertTo-Hex $b.CertificateHash) -eq $thumb) { $used = $true } } }
    if (@(Get-HttpSysTable | Where-Object { $_.certificate_hash -eq $thumb }).Count -gt 0) { $used = $true }
    if (-not $used) {
        $path = "Cert:\LocalMachine\$($snapshot.certificate.store)\$thumb"
        if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -DeleteKey; $removed = $true }
    }
}
# Chain certificates: only the ones this push added (the snapshot lists nothing that was there before). One is
# kept while a certificate that stays on the host names it as issuer (another push may rely on it since).
$chainRemoved = New-Object System.Collections.ArrayList
$chainKept = New-Object System.Collections.ArrayList
$pending = @(@($snapshot.chain_added) | Where-Object { $_ -and $_.thumbprint })
if ($removeChain -and $pending.Count -gt 0) {
    Set-OpStep 'chain'
    $entries = @{}
    foreach ($item in $pending) {
        $s = Open-CertStore ([string]$item.store) $false
        try { $found = @($s.Certificates.Find('FindByThumbprint', [string]$item.thumbprint, $false)) | Select-Object -First 1 }
        finally { $s.Close() }
        if ($found) { $entries[$found.Thumbprint] = @{ store = [string]$item.store; cert = $found } }
    }
    $others = New-Object System.Collections.ArrayList
    foreach ($name in @('My', 'WebHosting', 'CA', 'Root')) {
        $s = Open-CertStore $name $false
        try { foreach ($c in $s.Certificates) { if (-not $entries.ContainsKey($c.Thumbprint)) { [void]$others.Add($c) } } }
        finally { $s.Close() }
    }
    # A kept entry keeps its own issuer too: repeat until nothing more is kept.
    $kept = @{}
    do {
        $changed = $false
        foreach ($t in @($entries.Keys)) {
            if ($kept.ContainsKey($t)) { continue }
            $subject = $entries[$t].cert.Subject
            $users = @($others | Where-Object { $_.Issuer -eq $subject -and $_.Thumbprint -ne $t }) +
                @($entries.Keys | Where-Object { $kept.ContainsKey($_) -and $_ -ne $t -and $entries[$_].cert.Issuer -eq $subject } | ForEach-Object { $entries[$_].cert })
            if ($users.Count -gt 0) { $kept[$t] = $users[0].Subject; $changed = $true }
        }
    } while ($changed)
    foreach ($t in @($entries.Keys | Sort-Object)) {
        $e = $entries[$t]
        if ($kept.ContainsKey($t)) {
            [void]$chainKept.Add(@{ store = $e.store; thumbprint = $t; reason = "issuer of $($kept[$t])" }); continue
        }
        $s = Open-CertStore $e.store $true
        try { $s.Remove($e.cert) } finally { $s.Close() }
        [void]$chainRemoved.Add(@{ store = $e.store; thumbprint = $t })
    }
}
@{ restored = $restored; http_sys = @(Get-HttpSysTable); certificate_removed = $removed
    chain_removed = @($chainRemoved); chain_kept = @($chainKept) }
