// Package demo feeds a generated day of events to a running node and prints the incidents next to the ground truth.
package demo
