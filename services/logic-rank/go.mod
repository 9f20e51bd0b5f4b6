module github.com/iogo-dev/iogo/services/logic-rank

go 1.26.8

require (
	github.com/iogo-dev/iogo/pkg v0.0.0
	github.com/iogo-dev/iogo/proto v0.0.0
)

replace (
	github.com/iogo-dev/iogo/pkg => ../../pkg
	github.com/iogo-dev/iogo/proto => ../../proto
)
