# list_sites: every site (started or not) with every binding, FTP SSL settings, and the HTTP.sys ssl table.
param($Params)
Read-Sites
