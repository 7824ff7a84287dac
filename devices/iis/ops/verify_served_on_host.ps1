# verify_served_on_host: a TLS handshake from the IIS host to itself (SslStream with SNI), reporting the leaf it got,
# so DNS and firewalls between the portal and the host do not matter (iis-peers.md §3.7).
param($Params)
$ip = [string](Get-Param 'ip' '*')
$port = [int](Get-Param 'port' 443)
$sni = [string](Get-Param 'sni' '')
$timeoutMs = [int]([double](Get-Param 'timeout_seconds' 10) * 1000)
Set-OpStep 'connect'
$target = $ip
if ($ip -eq '*' -or $ip -eq '0.0.0.0') { $target = '127.0.0.1' }
$target = $target.Trim('[', ']')
$tcp = New-Object Net.Sockets.TcpClient
try {
    $connect = $tcp.BeginConnect($target, $port, $null, $null)
    if (-not $connect.AsyncWaitHandle.WaitOne($timeoutMs) -or -not $tcp.Connected) {
        throw (New-OpError 'connection_refused' "No connection could be made to ${target}:$port")
    }
    $tcp.EndConnect($connect)
    Set-OpStep 'handshake'
    $callback = [Net.Security.RemoteCertificateValidationCallback] { param($s, $c, $ch, $e) $true }
    $ssl = New-Object Net.Security.SslStream($tcp.GetStream(), $false, $callback)
    $ssl.ReadTimeout = $timeoutMs
    $targetHost = $(if ($sni) { $sni } else { $target })
    try {
        $protocols = [Security.Authentication.SslProtocols]::Tls12
        $ssl.AuthenticateAsClient($targetHost, $null, $protocols, $false)
    } catch {
        throw (New-OpError 'tls_handshake_failed' ("TLS handshake failed: " + $_.Exception.Message))
    }
    $leaf = New-Object Security.Cryptography.X509Certificates.X509Certificate2($ssl.RemoteCertificate)
    $chain = New-Object Security.Cryptography.X509Certificates.X509Chain
    [void]$chain.Build($leaf)
    @{
        ip = $target; port = $port; sni = $(if ($sni) { $sni } else { $null }); method = 'handshake'
        thumbprint = $leaf.Thumbprint; subject = $leaf.Subject; not_after = Format-IsoDate $leaf.NotAfter
        chain = @($chain.ChainElements | Select-Object -Skip 1 | Where-Object { $_.Certificate.Subject -ne $_.Certificate.Issuer } |
            ForEach-Object { $_.Certificate.Thumbprint })
        protocol = [string]$ssl.SslProtocol
    }
} finally { $tcp.Close() }
