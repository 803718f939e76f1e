package entra

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Graph throttling. Kiota's retry handler retries 429, 503 and 504 up to 3
// times and sleeps whatever Retry-After says, checking only that the waits
// so far are under 180 s: one "Retry-After: 3600" would hold a job, and its
// lease, for an hour. Here the handler retries only while all its waits for
// one request stay within maxGraphWait; past that the request fails at once
// with the wait Graph asked for (appreg.Throttled) and a plain message, and
// the engine offers a Retry (its failed-step path). Every step the engine
// takes in the tenant is recorded before the next or is idempotent, so a
// step that failed this way is simply taken again.

// maxGraphWait bounds the waits of the retries of one Graph request.
const maxGraphWait = 30 * time.Second

// graphRetries is how often one request is retried (kiota's default).
const graphRetries = 3

// newRetryHandler is kiota's retry handler within maxGraphWait.
func newRetryHandler() *khttp.RetryHandler {
	return khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
		MaxRetries: graphRetries,
		ShouldRetry: func(waited time.Duration, attempts int, _ *http.Request, resp *http.Response) bool {
			return waited+retryDelay(resp.Header.Get("Retry-After"), attempts+1) <= maxGraphWait
		},
	})
}

// retryDelay is the wait before retry number n (from 1): Retry-After in
// seconds or as a date, else kiota's backoff of 3 s doubling.
func retryDelay(retryAfter string, n int) time.Duration {
	if d, ok := parseRetryAfter(retryAfter); ok {
		return d
	}
	return time.Duration(3*math.Pow(2, float64(n-1))) * time.Second
}

func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// throttled is the error of a request Graph kept refusing with 429 or 503
// after the retries: KindUnavailable with a plain message, and the wait
// Graph last asked for in an *appreg.Throttled.
func throttled(err, detail error, what string) error {
	wait := time.Minute
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.ResponseHeaders != nil {
		if v := oe.ResponseHeaders.Get("Retry-After"); len(v) > 0 {
			if d, ok := parseRetryAfter(v[0]); ok {
				wait = d
			}
		}
	}
	return appreg.Wrap(appreg.KindUnavailable, &appreg.Throttled{Wait: wait, Err: detail},
		"Microsoft Graph is busy and asked the bot to slow down: could not "+what+". Please try again in a minute.")
}
