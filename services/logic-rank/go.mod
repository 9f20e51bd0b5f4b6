module github.com/iogo-dev/iogo/services/logic-rank

go 1.26.8

require (
	github.com/iogo-dev/iogo/pkg v0.0.0
	github.com/iogo-dev/iogo/proto v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace (
	github.com/iogo-dev/iogo/pkg => ../../pkg
	github.com/iogo-dev/iogo/proto => ../../proto
)
