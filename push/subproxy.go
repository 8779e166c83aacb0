package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldpush/herald/internal/egress"
)

// SubProxy asks the business system whether a user may subscribe to topics
// its token's claim does not list: POST {"user": ..., "topics": [...]} to
// the URL, with the secret as a bearer token when set; a 200 answer
// {"allowed": [...]} names the topics allowed, any other answer refuses
// nothing and allows nothing (the client is told "unavailable" and may try
// again).
type SubProxy struct {
	URL     string
	Secret  string
	Timeout time.Duration
	client  *http.Client // through the egress policy: public addresses, or the allowed networks
}

type subProxyRequest struct {
	User   string   `json:"user"`
	Topics []string `json:"topics"`
}

type subProxyResponse struct {
	Allowed []string `json:"allowed"`
}

func (p *SubProxy) allow(user string, topics []string) (map[string]bool, error) {
	if p.client == nil {
		p.client = egress.NewPolicy(nil).Client(p.Timeout)
	}
	body, _ := json.Marshal(subProxyRequest{User: user, Topics: topics})
	ctx, cancel := context.WithTimeout(context.Background(), p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+p.Secret)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("subscribe proxy: %w", egress.Cause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("subscribe proxy: status %d", resp.StatusCode)
	}
	var out subProxyResponse
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("subscribe proxy: decode: %w", err)
	}
	allowed := make(map[string]bool, len(out.Allowed))
	for _, t := range out.Allowed {
		allowed[t] = true
	}
	return allowed, nil
}
