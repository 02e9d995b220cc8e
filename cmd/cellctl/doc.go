// Cellctl is the operator's command line for cellkit placement maps.
package main
