// Package deprules holds the test that keeps labfleet's dependency rule,
// run by `make lint` (and so by CI) and by `make test-short`:
//
//   - agent/, controller/, plugins/ and ansible-compat/ each import only
//     internal/, proto/ and themselves: code two binaries share lives in
//     internal/, so the Nagios plugins never link the agent's deploy code
//     and labcontroller never depends on the Ansible front end;
//   - the agent's domain packages (the deploy engine, the MariaDB code,
//     node statistics) import neither gRPC, protobuf nor the Docker SDK, so
//     they stay testable and independent of the transport and the engine;
//   - no release binary links a test helper, the testing package or the
//     fault-injection hooks.
//
// The rules read `go list` output; a failure names the offending import
// and the chain that brought it in. The package has no code of its own.
package deprules
