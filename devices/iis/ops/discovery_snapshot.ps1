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
                [void]$result.Add((ConvertTo-StoreCertificateView $cert $name $true))
            }
        } finally { $store.Close() }
    }
    @{ certificates = @($result); missing = @($missing) }
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
