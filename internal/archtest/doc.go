// Package archtest checks that dependencies point inward: domain packages import no adapters.
package archtest
