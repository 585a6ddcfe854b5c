"""The customer portal's capability: its users (invited, set up once, limited to sites), what each may see and do
on tickets, and which surfaces are on. The web app on the portal host is ``vectis.portal``; operators manage all of
this from the hub and Admin (``vectis.views.portal_admin``)."""
