package cli

// Vigil is the single-node binary's program: the pipeline (run, the default) and the operator's commands.
func Vigil() *Program {
	return &Program{
		Name:    "vigil",
		Default: "run",
		Help:    `Run "vigil run -h" for the settings; each flag has a VIGIL_* environment variable.`,
		Commands: []*Command{
			node(),
			trustAdd(), trustList(), trustRemove(),
			decisionList(), decisionAdd(), decisionLift(),
			geoipImport(),
			ingestLog(),
			mailhostService(),
			adminCreate("admin create", true), adminRotateKey("admin rotate-key", true),
			demoCommand(), benchCommand(), configCommand(),
		},
	}
}

// Ingest is cmd/ingest's program: the ingest service and the log reader.
func Ingest() *Program {
	return &Program{Name: "ingest", Commands: []*Command{ingestService(), ingestLog()}}
}

// Detector is cmd/detector's program.
func Detector() *Program {
	return &Program{Name: "detector", Commands: []*Command{detectorService()}}
}

// AuthAPI is cmd/authapi's program: the auth API and its operator's commands.
func AuthAPI() *Program {
	return &Program{Name: "authapi", Commands: []*Command{
		authService(), adminCreate("create-admin", false), adminRotateKey("rotate-key", false),
	}}
}
