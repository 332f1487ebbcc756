// Package ops holds no code: it is the home of Carcosa's operations files,
// whose tests run with the module's (go test ./...).
//
//   - carcosa-alerts.yml: Prometheus alerting rules on Carcosa's metrics,
//     with their unit tests in carcosa-alerts_test.yml.
//   - carcosa-dashboard.json: a Grafana dashboard of the same metrics, on a
//     Prometheus data source chosen by its ${datasource} variable.
//
// The tests check the rules with promtool (Debian's prometheus package)
// and that every metric the files name is one that Carcosa exposes.
package ops
