# run_script: run a pre/post script that is already on the host, with arguments as an array (never re-parsed as
# text); a non-zero exit code fails the operation with the end of the script's output.
param($Params)
$path = [string](Get-RequiredParam 'path')
$arguments = @(Get-Param 'arguments' @() | ForEach-Object { [string]$_ })
Set-OpStep 'find'
if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { throw (New-OpError 'script_not_found' "The script '$path' does not exist.") }
Set-OpStep 'run'
$watch = [Diagnostics.Stopwatch]::StartNew()
$global:LASTEXITCODE = 0
$output = & powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $path @arguments 2>&1 | Out-String
$exitCode = $LASTEXITCODE
$watch.Stop()
if ($exitCode -ne 0) {
    $tail = (($output -split "`r?`n") | Where-Object { $_ } | Select-Object -Last 5) -join "`n"
    throw (New-OpError 'script_failed' ("Script '$path' exited with code $exitCode. " + $tail).Trim())
}
@{ path = $path; exit_code = $exitCode; output = $output.TrimEnd(); duration_ms = [math]::Round($watch.Elapsed.TotalMilliseconds, 1)
   finished_at = Format-IsoDate (Get-Date) }
