module example.invalid/wbauto-tools/pause

go 1.26.0
