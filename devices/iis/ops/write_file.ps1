# write_file: write bytes atomically (temp file in the same folder, then rename); the replaced file is kept as
# <path>.previous so a folder push can be rolled back. UNC paths are mounted with their own credential.
param($Params)
$path = [string](Get-RequiredParam 'path')
$bytes = [Convert]::FromBase64String([string](Get-RequiredParam 'content_b64'))
$keepPrevious = [bool](Get-Param 'keep_previous' $true)
Set-OpStep 'connect'
$drive = Connect-Folder $path (Get-Param 'credential')
try {
    $folder = [IO.Path]::GetDirectoryName($path)
    if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
    Set-OpStep 'write_temp'
    $temp = '{0}.tmp-{1}' -f $path, [guid]::NewGuid().ToString('N').Substring(0, 8)
    [IO.File]::WriteAllBytes($temp, $bytes)
    try {
        Set-OpStep 'rename'
        $replaced = Test-Path -LiteralPath $path
        $previous = $null
        if ($replaced -and $keepPrevious) {
            $previous = "$path.previous"
            [IO.File]::Replace($temp, $path, $previous)   # atomic swap on NTFS, keeps the old file as backup
        } elseif ($replaced) {
            [IO.File]::Replace($temp, $path, [NullString]::Value)
        } else {
            [IO.File]::Move($temp, $path)
        }
    } finally {
        if (Test-Path -LiteralPath $temp) { Remove-Item -LiteralPath $temp -Force }
    }
    $sha = [Security.Cryptography.SHA256]::Create()
    $digest = ([BitConverter]::ToString($sha.ComputeHash($bytes))).Replace('-', '').ToLowerInvariant()
    @{ path = $path; size = $bytes.Length; sha256 = $digest; previous_path = $previous; replaced = $replaced }
} finally { Disconnect-Folder $drive }
