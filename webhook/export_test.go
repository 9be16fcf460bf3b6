package webhook

import "time"

// Verify lets the package's external tests check one signature header without building an
// http.Header: secrets that do not parse are skipped, as NewVerifier would refuse them.
func Verify(secrets []string, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	var keys [][]byte
	for _, s := range secrets {
		if k, err := ParseSecret(s); err == nil {
			keys = append(keys, k)
		}
	}
	return verify(keys, msgID, timestamp, signatures, body, now, tolerance)
}
