module github.com/limpet-lb/limpet

go 1.26
