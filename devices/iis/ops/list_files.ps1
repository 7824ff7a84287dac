# list_files: .pfx/.p12/.cer files under a folder or UNC share (with the folder's own credential), bytes included.
param($Params)
$spec = @{
    path = [string](Get-RequiredParam 'path')
    patterns = @(Get-Param 'patterns' @('*.pfx', '*.p12', '*.cer'))
    recurse = [bool](Get-Param 'recurse' $true)
    max_file_bytes = [long](Get-Param 'max_file_bytes' 4194304)
    credential = Get-Param 'credential'
}
Read-Files $spec 'read'
