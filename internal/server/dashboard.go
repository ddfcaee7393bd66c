package server

import (
	"embed"
	"net/http"
	"path"
)

// web holds the dashboard: one page, its script and its style sheet,
// plain HTML, CSS and JavaScript with nothing fetched from elsewhere.
//
//go:embed web/dashboard.html web/dashboard.js web/dashboard.css
var web embed.FS

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "dashboard.html")
}

// handleAsset serves /assets/NAME, the dashboard's script and style sheet.
func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != "dashboard.js" && name != "dashboard.css" {
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, name)
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := web.ReadFile(path.Join("web", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	}
	w.Write(b)
}
