// Package confcenter is the Go client of confcenter: a live, resumable view of a
// tenant's resolved configuration (see ../../docs/clients.md for the contract).
package confcenter
