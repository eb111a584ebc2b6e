"""The customer-services back office: GOV.UK pages over the same use cases as the API."""
