// Package deploycheck holds no code: its test checks the deployment files
// (docker-compose.yml, Dockerfile) against the settings the code reads
// (internal/config's registry), so a renamed or new setting cannot leave
// the deployment behind.
package deploycheck
