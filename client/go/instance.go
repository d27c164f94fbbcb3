package confcenter

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	pb "confcenter.dev/client/go/confcenterpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Version of this library, sent in InstanceInfo.library.
const Version = "0.1.0"

var processStart = time.Now()

// InstanceOptions say how the process names itself to the server (InstanceService): it is
// listed by `confctl instances` while its stream is open, and reports the revision it has
// applied (after that revision's callbacks ran) for `confctl wait-applied`.
type InstanceOptions struct {
	// Disabled: the stream is anonymous and nothing is reported.
	Disabled bool
	// Stable for the process. Default: $POD_NAME or the host name, the process id and 4
	// random bytes, e.g. "login-7d9f-x2:4711:9f3a0c1e".
	ID string
	// The service it runs as. Default: the first of Options.Services.
	Service string
	// Free-form (at most 32, 4 KiB with the names), e.g. {"version": "1.3.0"}.
	Labels map[string]string
}

// sanitizeID keeps the id's alphabet, [A-Za-z0-9_.:-]: a host name may hold other bytes.
func sanitizeID(id string) string {
	b := []byte(id)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-'
		if !ok {
			b[i] = '-'
		}
	}
	return string(b)
}

func makeInstanceInfo(o Options) *pb.InstanceInfo {
	host, _ := os.Hostname()
	pod := os.Getenv("POD_NAME")
	info := &pb.InstanceInfo{
		InstanceId: o.Instance.ID,
		Host:       host,
		Service:    o.Instance.Service,
		Pod:        pod,
		Namespace:  os.Getenv("POD_NAMESPACE"),
		Library:    "confcenter-go/" + Version,
		StartTime:  timestamppb.New(processStart),
	}
	if info.InstanceId == "" {
		name := host
		if pod != "" {
			name = pod
		}
		var r [4]byte
		rand.Read(r[:])
		info.InstanceId = sanitizeID(fmt.Sprintf("%s:%d:%s", name, os.Getpid(), hex.EncodeToString(r[:])))
	}
	if info.Service == "" && len(o.Services) > 0 {
		info.Service = o.Services[0]
	}
	if len(o.Instance.Labels) > 0 {
		info.Labels = make(map[string]string, len(o.Instance.Labels))
		for k, v := range o.Instance.Labels {
			info.Labels[k] = v
		}
	}
	return info
}
