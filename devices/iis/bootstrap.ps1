# Thumbprint operation bootstrap, envelope version 1 (Windows PowerShell 5.1).
# Runs as: powershell.exe -NoProfile -NonInteractive -EncodedCommand <this file, comment lines removed, UTF-16LE, base64>
# stdin : one ASCII JSON envelope {"op": "...", "v": 1, "params": {...}, "script": "<ps1 text>"}
# stdout: exactly one JSON document (ASCII; non-ASCII characters as \uXXXX):
#           {"ok": true, "data": <the script's output>}                                        exit code 0
#           {"ok": false, "error": {"code": "...", "message": "...", "step": "..."}}           exit code 1
# A script sees the envelope's params as $Params (also its first argument), names its steps with Set-OpStep 'name'
# and fails with: throw (New-OpError 'code' 'message'). Any other terminating error becomes code 'script_error'.
# One object of output is the data; none is null; several become an array. Dates should be ISO-8601 strings.
# Parameters are never part of the script text: they arrive only in params.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
# UTF-8 where there is a console to set; the document is escaped to ASCII below in any case.
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { $global:OpConsole = 'none' }
$global:OpStep = 'bootstrap'
function Set-OpStep([string]$Name) { $global:OpStep = $Name }
function New-OpError([string]$Code, [string]$Message) {
    $opError = New-Object System.Exception $Message
    $opError.Data['OpCode'] = $Code
    $opError
}
function Write-OpResult($Document, [int]$ExitCode) {
    $json = ConvertTo-Json -InputObject $Document -Depth 32 -Compress
    # \uXXXX for everything outside ASCII: no console code page can garble the document on its way out.
    $ascii = [System.Text.RegularExpressions.MatchEvaluator] { param($m) '\u{0:x4}' -f [int][char]$m.Value }
    [Console]::Out.Write([regex]::Replace($json, '[^\u0000-\u007F]', $ascii))
    [Console]::Out.Flush()
    exit $ExitCode
}
$raw = $input | Out-String
try {
    $envelope = ConvertFrom-Json -InputObject $raw
    if ($envelope.v -ne 1) { throw (New-OpError 'bad_envelope' "unsupported envelope version '$($envelope.v)'") }
    $Params = $envelope.params
    $block = [ScriptBlock]::Create([string]$envelope.script)
    $global:OpStep = [string]$envelope.op
    # Warning, verbose, debug and information (Write-Host) records would reach stdout in a console host.
    $out = @(& $block $Params 3>$null 4>$null 5>$null 6>$null)
    if ($out.Count -eq 1) { $data = $out[0] } elseif ($out.Count -eq 0) { $data = $null } else { $data = $out }
    Write-OpResult @{ ok = $true; data = $data } 0
} catch {
    $caught = $_.Exception
    $code = 'script_error'
    if ($caught.Data -and $caught.Data.Contains('OpCode')) { $code = [string]$caught.Data['OpCode'] }
    Write-OpResult @{ ok = $false; error = @{ code = $code; message = $caught.Message; step = $global:OpStep } } 1
}
