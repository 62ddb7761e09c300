module cleartap/akto-oracle

go 1.24
