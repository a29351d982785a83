package webchat

import "time"

// SetWriteWait shortens the write deadline (and so the read deadline, 2×ping + writeWait) for tests;
// call it before the first connection.
func SetWriteWait(s *Server, d time.Duration) { s.writeWait = d }
