# remove_file: delete a file a folder push created, so that its rollback leaves the folder as it was. With
# expected_sha256 the file is deleted only while it still holds those bytes (nobody replaced it since the push).
# UNC paths are mounted with their own credential.
param($Params)
$path = [string](Get-RequiredParam 'path')
$expected = ([string](Get-Param 'expected_sha256' '')).ToLowerInvariant()
Set-OpStep 'connect'
$drive = Connect-Folder $path (Get-Param 'credential')
try {
    Set-OpStep 'check'
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return @{ path = $path; removed = $false; reason = 'not_found' } }
    if ($expected) {
        $sha = [Security.Cryptography.SHA256]::Create()
        $digest = ([BitConverter]::ToString($sha.ComputeHash([IO.File]::ReadAllBytes($path)))).Replace('-', '').ToLowerInvariant()
        if ($digest -ne $expected) { return @{ path = $path; removed = $false; reason = 'changed' } }
    }
    Set-OpStep 'remove'
    Remove-Item -LiteralPath $path -Force
    @{ path = $path; removed = $true; reason = $null }
} finally { Disconnect-Folder $drive }
