"""How the MSP's customers see it: the company name, accent colour and logo the portal and its mail wear."""
