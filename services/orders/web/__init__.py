"""The public ordering site: GOV.UK pages over identity's API and orders' own rules."""
