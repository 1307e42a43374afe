"""carewatch stream processing: the event contract, the response clocks and the Faust app."""
