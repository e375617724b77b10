package api

// MediaPresent reports whether the bytes of the media file with this SHA-256
// (64 lowercase hex digits) have arrived in the media store. Projections use
// it to mark each referenced file as arrived or missing.
func (s *Server) MediaPresent(sha256 string) bool {
	if !validSHA256(sha256) {
		return false
	}
	_, ok := s.media.stat(sha256)
	return ok
}
