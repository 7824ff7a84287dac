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
            $public = $cert.PublicKey.Key
            $algorithm = $cert.PublicKey.Oid.FriendlyName
            $size = 0
            if ($cert.PublicKey.Oid.Value -eq '1.2.840.113549.1.1.1') { $algorithm = 'RSA'; $size = $public.KeySize }
            elseif ($cert.PublicKey.Oid.Value -eq '1.2.840.10045.2.1') {
                $algorithm = 'ECDSA'
                $size = ([Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPublicKey($cert)).KeySize
            }
            $entry = [ordered]@{
                store = $name; thumbprint = $cert.Thumbprint; subject = $cert.Subject; issuer = $cert.Issuer
                serial_number = $cert.SerialNumber
                not_before = Format-IsoDate $cert.NotBefore; not_after = Format-IsoDate $cert.NotAfter
                friendly_name = $cert.FriendlyName; has_private_key = $cert.HasPrivateKey
                key_provider = Get-KeyProvider $cert; key_algorithm = $algorithm; key_size = $size
                dns_names = Get-SanDnsNames $cert
                enhanced_key_usages = @($cert.EnhancedKeyUsageList | ForEach-Object { $_.ObjectId })
            }
            if ($includeDer) { $entry.der_b64 = [Convert]::ToBase64String($cert.RawData) }
            [void]$result.Add($entry)
        }
    } finally { $store.Close() }
}
@{ certificates = @($result) }
