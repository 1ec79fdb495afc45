package main

import "github.com/hibiken/asynq"

func main() { _ = asynq.NewClient }
