# remove_certificate_if_unused: delete a certificate (and its key, unless another store entry shares it) only when
# no binding of any site, no FTP site and no HTTP.sys entry uses its thumbprint (Keyfactor / win-acme practice).
param($Params)
$thumb = (([string](Get-RequiredParam 'thumbprint')) -replace '[^0-9A-Fa-f]', '').ToUpperInvariant()
$storeName = [string](Get-Param 'store' 'My')
if (@('My', 'WebHosting') -notcontains $storeName) { throw (New-OpError 'bad_params' 'store must be one of My, WebHosting') }
$deleteKey = [bool](Get-Param 'delete_key' $true)
Set-OpStep 'scan'
$path = "Cert:\LocalMachine\$storeName\$thumb"
if (-not (Test-Path -LiteralPath $path)) {
    return @{ thumbprint = $thumb; store = $storeName; removed = $false; reason = 'not_found'; used_by = @(); key_deleted = $false }
}
$used = New-Object System.Collections.ArrayList
$sm = Import-ServerManager
foreach ($site in $sm.Sites) {
    foreach ($b in $site.Bindings) {
        if ((ConvertTo-Hex $b.CertificateHash) -eq $thumb) {
            [void]$used.Add(@{ kind = 'binding'; site = $site.Name; binding_information = $b.BindingInformation })
        }
    }
    if (@($site.Bindings | Where-Object { $_.Protocol -eq 'ftp' }).Count -gt 0) {
        $ssl = $site.GetChildElement('ftpServer').GetChildElement('security').GetChildElement('ssl')
        if (([string]$ssl['serverCertHash']).ToUpperInvariant() -eq $thumb) { [void]$used.Add(@{ kind = 'ftp'; site = $site.Name }) }
    }
}
foreach ($entry in Get-HttpSysTable) {
    if ($entry.certificate_hash -eq $thumb) { [void]$used.Add(@{ kind = 'http_sys'; endpoint = $entry.endpoint }) }
}
if ($used.Count -gt 0) {
    return @{ thumbprint = $thumb; store = $storeName; removed = $false; reason = 'in_use'; used_by = @($used); key_deleted = $false }
}
Set-OpStep 'remove'
$otherStores = @(foreach ($s in @('My', 'WebHosting')) { if ($s -ne $storeName -and (Test-Path -LiteralPath "Cert:\LocalMachine\$s\$thumb")) { $s } })
$keyDeleted = $deleteKey -and $otherStores.Count -eq 0
if ($keyDeleted) { Remove-Item -LiteralPath $path -DeleteKey } else { Remove-Item -LiteralPath $path }
@{ thumbprint = $thumb; store = $storeName; removed = $true; reason = $null; used_by = @(); key_deleted = $keyDeleted }
