# list_sites: every site (started or not) with every binding, FTP SSL settings, and the HTTP.sys ssl table.
param($Params)
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
