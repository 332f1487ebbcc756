package broker_test

import (
	"testing"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/broker/brokertest"
)

func TestLocal(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) broker.Broker { return broker.New() })
}
