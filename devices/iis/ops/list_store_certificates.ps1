# list_store_certificates: LocalMachine stores (My and WebHosting by default) with DER, friendly name and key facts.
param($Params)
$storeNames = @(Get-Param 'stores' @('My', 'WebHosting'))
$includeDer = [bool](Get-Param 'include_der' $true)
$wanted = [string](Get-Param 'thumbprint' '')
$wanted = ($wanted -replace '[^0-9A-Fa-f]', '').ToUpperInvariant()
Set-OpStep 'read'
$result = New-Object System.Collections.ArrayList
foreach ($name in $storeNames) {
    $store = Open-CertStore $name $false
    try {
        foreach ($cert in @($store.Certificates | Sort-Object Thumbprint)) {
            if ($wanted -and $cert.Thumbprint -ne $wanted) { continue }
            [void]$result.Add((ConvertTo-StoreCertificateView $cert $name $includeDer))
        }
    } finally { $store.Close() }
}
@{ certificates = @($result) }
