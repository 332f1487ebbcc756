package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
)

func Example() {
	q := queue.NewMemory(&queue.MemoryOptions{Workers: 2, Logger: quiet})
	q.Handle("carcosa.process", func(ctx context.Context, job queue.Job, attempt int) error {
		var upload struct{ ID string }
		if err := json.Unmarshal(job.Payload, &upload); err != nil {
			return queue.Cancel(err) // retrying will not help
		}
		fmt.Println("processing", upload.ID)
		return nil
	})
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		panic(err)
	}
	err := q.Enqueue(ctx, queue.Job{
		Kind:      "carcosa.process",
		Payload:   json.RawMessage(`{"ID": "u_123"}`),
		UniqueKey: "u_123", // once, however many times it is asked for
	})
	if err != nil {
		panic(err)
	}
	// Stop runs what is still waiting before it returns.
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		panic(err)
	}
	// Output: processing u_123
}

func ExampleCancel() {
	q := queue.NewMemory(&queue.MemoryOptions{Logger: quiet})
	q.Handle("carcosa.scan", func(ctx context.Context, job queue.Job, attempt int) error {
		return queue.Cancel(errors.New("the file is encrypted"))
	})
	ctx := context.Background()
	_ = q.Start(ctx)
	_ = q.Enqueue(ctx, queue.Job{Kind: "carcosa.scan", Payload: json.RawMessage(`"u_1"`)})
	_ = q.Stop(ctx)
	dead, _ := q.Dead(ctx, 10)
	for _, d := range dead {
		fmt.Printf("%s %s after %d attempt: %s\n", d.Kind, d.Payload, d.Attempts, d.LastError)
	}
	// Output: carcosa.scan "u_1" after 1 attempt: the file is encrypted
}
