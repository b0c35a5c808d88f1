module example.com/labs/web

go 1.18
