# list_files: .pfx/.p12/.cer files under a folder or UNC share (with the folder's own credential), bytes included.
param($Params)
$path = [string](Get-RequiredParam 'path')
$patterns = @(Get-Param 'patterns' @('*.pfx', '*.p12', '*.cer'))
$recurse = [bool](Get-Param 'recurse' $true)
$maxBytes = [long](Get-Param 'max_file_bytes' 4194304)
Set-OpStep 'connect'
$drive = Connect-Folder $path (Get-Param 'credential')
try {
    Set-OpStep 'list'
    if (-not (Test-Path -LiteralPath $path -PathType Container)) {
        throw (New-OpError 'path_not_found' "Cannot find path '$path' because it does not exist.")
    }
    $items = @(Get-ChildItem -LiteralPath $path -File -Recurse:$recurse -ErrorAction Stop |
        Where-Object { $name = $_.Name; @($patterns | Where-Object { $name -like $_ }).Count -gt 0 } |
        Sort-Object FullName)
    Set-OpStep 'read'
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
